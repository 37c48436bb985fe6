import { alertConditions, attributes, defineResource, identifiers, Plugin } from '../../../../src/shared/storage-resources/api/index.js';
export const version = 1;
export const Disk = defineResource({
  name: 'Disk',
  identifier: identifiers.GlobalId('serial'),
  attributes: { serial: attributes.String(), status: attributes.String() },
  alertConditions: [
    alertConditions.ValueCondition('status', { warnStates: ['NEARFAILURE'] }),
    alertConditions.ValueCondition('status', { warnStates: ['FAILED'] }),
  ],
});
export class AlertClash extends Plugin { initialScan() {} }
