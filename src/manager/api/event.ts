// event.*: event.from (the current mechanism), the legacy register/next/unregister, inject.
import type { HandlerTable } from './context.js';

export const eventApi: HandlerTable = {
  handlers: {
    'event.from': (ctx, classes, token, timeout) =>
      ctx.svc.events.from(ctx.session.ref, classes, token, timeout, ctx.signal),
    'event.register': (ctx, classes) => ctx.svc.events.register(ctx.session.ref, classes),
    'event.unregister': (ctx, classes) => ctx.svc.events.unregister(ctx.session.ref, classes),
    'event.next': (ctx) => ctx.svc.events.next(ctx.session.ref, ctx.signal),
    'event.get_current_id': (ctx) => ctx.svc.events.currentId(),
    'event.inject': (ctx, cls, ref) => ctx.svc.events.inject(cls, ref),
  },
};
