// task.*: client-managed tasks, cancellation and destruction with xapi's ownership rule (the
// creating user, or a holder of task.destroy/any).
import { XenApiError } from '../../shared/errors.js';
import { checkPermission } from '../auth/rbac.js';
import { nowXapi } from '../time.js';
import type { CallContext, HandlerTable } from './context.js';

/** xapi's TaskHelper.assert_op_valid: the task's creator, or a holder of task.destroy/any. */
export function checkTaskOwner(ctx: CallContext, task: string) {
  ctx.svc.db.mustGet('task', task);
  if (ctx.svc.tasks.ownedBy(task, ctx.session.ref, ctx.session.userName)) return;
  checkPermission(ctx.session, { name: 'task.destroy/any', roles: ['pool-admin', 'pool-operator'] });
}

const ownedSetter =
  (field: string) =>
  (ctx: CallContext, self: string, value: unknown): void => {
    checkTaskOwner(ctx, self);
    ctx.svc.db.update('task', self, { [field]: value });
  };

export const taskApi: HandlerTable = {
  handlers: {
    'task.create': (ctx, label, description) =>
      ctx.svc.tasks.createClientTask(label, description, ctx.session.ref, ctx.session.userName),
    'task.destroy': (ctx, self) => {
      checkTaskOwner(ctx, self);
      ctx.svc.tasks.destroy(self);
    },
    'task.cancel': (ctx, task) => {
      checkTaskOwner(ctx, task);
      ctx.svc.tasks.cancel(task, ctx.task?.ref);
    },
    'task.set_status': (ctx, self, value) => {
      checkTaskOwner(ctx, self);
      const done = value !== 'pending' && value !== 'cancelling';
      ctx.svc.db.update(
        'task',
        self,
        done ? { status: value, progress: 1, finished: nowXapi() } : { status: value },
      );
    },
    'task.set_progress': (ctx, self, value) => {
      checkTaskOwner(ctx, self);
      if (!(value >= 0 && value <= 1)) throw new XenApiError('INVALID_VALUE', ['progress', String(value)]);
      ctx.svc.db.update('task', self, { progress: value });
    },
    'task.set_result': ownedSetter('result'),
    'task.set_error_info': ownedSetter('error_info'),
    'task.set_other_config': ownedSetter('other_config'),
  },
};
