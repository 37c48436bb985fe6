// Where storage resources meet Berth's own objects (issue 17): the hardware chain the plugins
// report (disk → partition → volume group / filesystem) continues into the XenAPI database
// (SR → VDI → VBD → VM). The link is made when asked, from the resource store and the database as
// they are then: an SR sits on the records its PBDs' hosts report for it (an LVM SR on the
// `LvmGroup` named `VG_XenStorage-<sr uuid>`, a file SR on the `LocalMount` holding its path,
// longest mount point first); VDIs, VBDs and VMs follow the database's own references. Nothing of
// the database is copied into resource records, so a VM started a second ago is already there.

/** Berth objects (XenAPI refs) a resource affects: its descendants, then SRs on them, and on. */
export interface AffectedObjects {
  /** The record itself and its descendants (record ids), as alert propagation reaches them. */
  resources: number[];
  srs: string[];
  vdis: string[];
  vbds: string[];
  /** VMs with a VBD on an affected VDI, whatever their power state. */
  vms: string[];
}

/** What a VM's disks depend on, back down to the hardware. */
export interface VmDependencies {
  vbds: string[];
  vdis: string[];
  srs: string[];
  /** The records its SRs sit on and all their ancestors (record ids): disks, partitions, VGs, mounts. */
  resources: number[];
}

export interface BerthObjectLinks {
  /** The records an SR sits on directly (empty when no plugin reports its storage). */
  srResources(sr: string): number[];
  /** The SRs sitting directly on a record. */
  resourceSrs(resourceId: number): string[];
  affectedBy(resourceId: number): AffectedObjects;
  dependenciesOfVm(vm: string): VmDependencies;
}
