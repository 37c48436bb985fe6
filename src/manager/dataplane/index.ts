// VM metadata of the data plane: what goes into an XVA's ova.xml and how it comes back.
//
// Export (GET /export, /export_metadata):
//   const { doc, disks } = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata, preservePowerState,
//                                                includeVhdParents, excludedDevices });
//   const text = ovaXml(db.model, doc);   // the ova.xml member; then disks (lexicographic ids)
// Import (PUT /import, /import_metadata):
//   const doc = parseOvaXml(db.model, text);                 // IMPORT_ERROR_GENERIC if malformed
//   const plan = ovaObjectsToPlan(db, doc, { mode, sr, restore, force, vdiMap, task });
//   if (dryRun) return plan;                                 // nothing created
//   const vms = await applyImportPlan(svc, plan, { writeDisks: (disks) => … });
// `writeDisks` gets plan.disks ({id: 'Ref:n', ref, virtualSize}) in the order the tar holds them;
// if it throws, every record and new volume is removed again (unless force).
// Query strings: metadataExportQuery(query) (all, include_dom0, export_snapshots,
// include_vhd_parents, excluded_device_types) and importQuery(query) (restore, force, dry_run,
// live, check_cpu, vdi:<src>=<dst>), as xapi reads them.
export {
  allMetadataVms,
  berthOvaVersion,
  DEVICE_TYPES,
  type DeviceType,
  type ExportDisk,
  type ExportOptions,
  isDefaultTemplate,
  parseDeviceTypes,
  type VmExport,
  vmToOvaObjects,
} from './export-objects.js';
export { type ApplyHooks, applyImportPlan } from './import-apply.js';
export {
  assertCompatible,
  type ImportOptions,
  type ImportPlan,
  importTargetSr,
  ovaObjectsToPlan,
  type PlannedDisk,
  type PlannedRecord,
  type PlannedVolume,
} from './import-plan.js';
export {
  BERTH_XAPI_VERSION,
  DEFAULT_OVA_LIMITS,
  EXPORT_VSN,
  OVA_CLASSES,
  type OvaDocument,
  type OvaLimits,
  type OvaObject,
  type OvaVersion,
  ovaXml,
  parseOvaXml,
  parseOvaVersion,
} from './ova.js';
export {
  type ImportQuery,
  importQuery,
  type MetadataExportQuery,
  metadataExportQuery,
  type Query,
} from './query.js';
