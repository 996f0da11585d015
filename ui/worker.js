// Dedicated-worker entry, the fallback where SharedWorker is missing: the same
// hub (ui/hub.js) serving the one page that started it through self as the port.
// Protocol: ui/hub.js.

import { Hub } from "./hub.js";

const hub = new Hub({ refreshUrl: new URL("./auth/refresh", self.location.href).href });
const port = { postMessage: (message, transfer = []) => self.postMessage(message, transfer) };

hub.addPort(port, { expires: false });
self.onmessage = ({ data }) => hub.onPortMessage(port, data);
