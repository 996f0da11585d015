// SharedWorker entry: one hub (ui/hub.js), so one WebSocket, for every tab of
// this origin. Each tab connects a MessagePort; see ui/hub.js for the protocol
// and ui/link.js for the tab side (which restarts this worker if it dies).

import { Hub } from "./hub.js";

// The issuer's refresh route beside this script (renewal, ui/hub.js); none where there is no location (node tests).
const hub = new Hub({ refreshUrl: self.location ? new URL("./auth/refresh", self.location.href).href : null });

self.onconnect = (event) => {
  for (const port of event.ports) {
    hub.addPort(port);
    port.onmessage = ({ data }) => hub.onPortMessage(port, data);
    port.addEventListener("close", () => hub.removePort(port)); // where MessagePort has a close event
  }
};
