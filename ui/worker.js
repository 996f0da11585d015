// Dedicated-worker entry, the fallback where SharedWorker is missing: the same
// hub (ui/hub.js) serving the one page that started it through self as the port.
// Protocol: ui/hub.js.

import { Hub } from "./hub.js";

// The issuer's refresh route beside this script (renewal, ui/hub.js); none where there is no location (node tests).
const hub = new Hub({ refreshUrl: self.location ? new URL("./auth/refresh", self.location.href).href : null });
const port = { postMessage: (message, transfer = []) => self.postMessage(message, transfer) };

hub.addPort(port, { expires: false });
self.onmessage = ({ data }) => hub.onPortMessage(port, data);
