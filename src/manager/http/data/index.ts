// The data plane's HTTP handlers (/export, /import, /export_raw_vdi, /import_raw_vdi,
// /export_metadata, /import_metadata) are written against this framework:
//
//   mountDataHandler(manager.frontend, svc, {
//     path: '/export_raw_vdi', methods: ['GET'], action: 'http/get_export_raw_vdi', label: 'VDI.export_raw',
//     async handle(ctx) {
//       const vdi = refOrUuid(ctx.svc.db, 'VDI', ctx.query.get('vdi') ?? '')  // or optionalRefOrUuid / objectOf / srOf
//       const host = hostForSrData(ctx.svc, sr);  if (host !== ctx.svc.hostRef()) return ctx.redirect(host);
//       await ctx.lockVdi(vdi, 'export');          // released when the request ends, however it ends
//       ctx.start({ 'content-type': 'application/octet-stream' });   // 200 + task-id, Connection: close
//       await ctx.send(source, totalBytes);        // backpressure, progress; stops on task.cancel / client close
//       return undefined;                          // task result: undefined | ref | ref[]
//     },
//   });
//
// Before handle() runs the framework has: authenticated the caller as xapi does (local socket,
// session_id cookie/query, pool_secret, Basic auth with a session made for the request), checked
// RBAC permission `<action>` (403, and a named task failed with RBAC_PERMISSION_DENIED; 401 with
// WWW-Authenticate and SESSION_AUTHENTICATION_FAILED), taken the task named by task_id (pending,
// not running, the caller's or task.destroy/any) or created one (subtask_of honoured), set its
// progress to 0 and wired task.cancel to ctx.signal. After handle(): locks released (onEnd), then
// the task settled: success with the result (XML-RPC <value>), failure with the error thrown
// (TASK_CANCELLED → status cancelled), nothing on a redirect; a task made for the request is
// destroyed, as xapi's with_context does. Errors thrown before start(): HttpStatusError's status
// (badRequest → 400, notFound → 404), XenApiError → 500 with xapi's "Additional information";
// after start() the connection is cut.
export { HTTP_ACTIONS, type HttpActionName } from './actions.js';
export { badRequest, HttpStatusError, notFound } from './errors.js';
export {
  type DataContext,
  type DataHandlerSpec,
  type DataResult,
  dataRoute,
  mountDataHandler,
  resultXml,
} from './handler.js';
export { hostForSrData, hostForVmData, redirectLocation, srsOfVm } from './placement.js';
export { DataQuery, parseCookies } from './query.js';
export { existingRef, objectOf, optionalRefOrUuid, refOfUuid, refOrUuid, srOf } from './resolve.js';
