// SharedWorker entry: one hub (ui/hub.js), so one WebSocket, for every tab of
// this origin. Each tab connects a MessagePort; see ui/hub.js for the protocol
// and ui/link.js for the tab side (which restarts this worker if it dies).

import { Hub } from "./hub.js";

const hub = new Hub({ refreshUrl: new URL("./auth/refresh", self.location.href).href });

self.onconnect = (event) => {
  for (const port of event.ports) {
    hub.addPort(port);
    port.onmessage = ({ data }) => hub.onPortMessage(port, data);
    port.addEventListener("close", () => hub.removePort(port)); // where MessagePort has a close event
  }
};
