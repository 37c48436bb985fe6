// SM objects are read-only (registered at start from the drivers); only the implicit getters
// and other_config setters apply. This module also gathers the storage handler tables.
import type { HandlerTable } from './context.js';
import { pbdApi } from './pbd.js';
import { srApi } from './sr.js';
import { vbdApi } from './vbd.js';
import { vdiApi } from './vdi.js';

/** Every storage message handler (SR, PBD, VDI, VBD); add to API_MODULES. */
export const storageApi: HandlerTable = {
  handlers: { ...srApi.handlers, ...pbdApi.handlers, ...vdiApi.handlers, ...vbdApi.handlers },
};
