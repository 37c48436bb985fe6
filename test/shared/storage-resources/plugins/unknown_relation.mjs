import { attributes, defineResource, identifiers, Plugin, relations } from '../../../../src/shared/storage-resources/api/index.js';
export const version = 1;
export const Lun = defineResource({
  name: 'Lun',
  identifier: identifiers.GlobalId('serial'),
  attributes: { serial: attributes.String() },
  relations: [relations.Provide(['nosuchplugin', 'Device'], 'serial')],
});
export class UnknownRelation extends Plugin { initialScan() {} }
