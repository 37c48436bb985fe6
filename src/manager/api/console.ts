// console.*: xapi creates and destroys console records itself (with the VM's device model) and
// answers NOT_IMPLEMENTED to clients that try; Berth does the same rather than serving the
// generated constructor/destructor.
import { XenApiError } from '../../shared/errors.js';
import type { HandlerTable } from './context.js';

const notImplemented = (wire: string) => () => {
  throw new XenApiError('NOT_IMPLEMENTED', [wire]);
};

export const consoleApi: HandlerTable = {
  handlers: {
    'console.create': notImplemented('console.create'),
    'console.destroy': notImplemented('console.destroy'),
  },
};
