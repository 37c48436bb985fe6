// The boundary between storage plugins and the manager's resource store (issue 17), after IML's
// ResourceManager session API (plugin_runner/resource_manager.py; reference:
// ../shared/reference/iml-storage-plugins.md §5–8): a plugin instance, run for one scannable root
// (a controller plugin's root, or one host's agent-fed plugin), reports what it sees through one
// session; the store persists it, culls what is no longer reported, links relations, keeps alerts.
//
//   sink.sessionOpen(root, plugin.describe(), everything, updatePeriod)     // after initial_scan
//   sink.sessionAddResources(root, [new ones]); sink.sessionUpdateResource(root, handle, changes)
//   sink.sessionNotifyAlert(root, handle, { alertClass, attribute, active, severity })
//   sink.sessionClose(root)                                                 // after teardown
//
// Plugin-side code (src/shared/storage-resources/api/, the loader, the scan loop) never touches the
// database; the store (src/manager/storage-resources/) never runs plugin code.

/** IML's attribute types (api/attributes.py). */
export type AttributeType =
  | 'String'
  | 'Password'
  | 'Boolean'
  | 'Integer'
  | 'Bytes'
  | 'Enum'
  | 'Uuid'
  | 'PosixPath'
  | 'Hostname'
  | 'ResourceReference';

export interface AttributeInfo {
  type: AttributeType;
  optional: boolean;
  label: string;
  hidden: boolean;
  userReadOnly: boolean;
  /** Enum's options; String's max_length; Integer/Bytes bounds. */
  options?: string[];
  maxLength?: number;
  min?: number;
  max?: number;
}

/** `logging` levels, as IML: ERROR 40, WARNING 30, INFO 20. */
export type AlertSeverity = 40 | 30 | 20;

export interface AlertClassInfo {
  /** `_<id>_<attribute>_<severity>`, e.g. `_None_status_30`. */
  alertClass: string;
  attribute: string;
  severity: AlertSeverity;
  message: string;
}

/** A resource class as the store needs it: persisted with the resources, shown by the API. */
export interface ResourceClassInfo {
  /** Plugin module name (the plugin's name) and class name: `plugin.Class` identifies it. */
  plugin: string;
  name: string;
  label: string;
  /** global: unique everywhere (several roots may report it); scoped: unique within its root. */
  identifier: { kind: 'global' | 'scoped' | 'auto'; attributes: string[] };
  /** In declaration order. */
  attributes: Record<string, AttributeInfo>;
  alertClasses: AlertClassInfo[];
  /** Resolved relations (a Provide becomes a Subscribe on its target, as IML's manager does). */
  subscribes: { to: { plugin: string; name: string }; attributes: string[]; ignorecase: boolean }[];
  statistics: Record<
    string,
    { type: 'Gauge' | 'Counter' | 'BytesHistogram'; units?: string; bins?: number[][] }
  >;
  /** Statistics plotted together (`Meta.charts`); absent: one chart per statistic. */
  charts?: { title: string; series: string[] }[];
  /** A ScannableResource: a root a user creates and a controller plugin scans. */
  scannable: boolean;
  /** The built-in class it derives from (`DeviceNode`, `LogicalDrive`, `PhysicalDisk`…), if any. */
  builtin?: string;
}

/** An attribute value as it crosses the boundary: references name another resource of the session by handle. */
export type AttributeValue = string | number | boolean | null | { handle: number };

/** The longest label the store keeps (Berth's choice): the plugin base cuts longer ones. */
export const MAX_RESOURCE_LABEL_LENGTH = 255;

/** A resource reported in a session: handles are the session's own numbers (the root is 1). */
export interface ReportedResource {
  handle: number;
  /** `plugin.Class` */
  class: string;
  attributes: Record<string, AttributeValue>;
  /** Handles of its parents in this session. */
  parents: number[];
  /** Statistics samples since the last commit: name → [epoch seconds, value][] (histograms: one sample, value = bins). */
  statistics?: Record<string, [number, number | number[]][]>;
  /**
   * The resource's own label (its class overrides getLabel, IML's get_label); absent: the store
   * shows the default `<class label> <id>`. Added after the first round (label-perf): optional.
   */
  label?: string;
}

/** A root a session runs for: a user-created scannable resource, or a host's agent-fed plugin root. */
export type SessionRoot = string;

export interface AlertState {
  alertClass: string;
  attribute: string;
  active: boolean;
  severity: AlertSeverity;
}

/** What a plugin session reports to the resource store (IML's session_* calls), in order. */
export interface ResourceSessionSink {
  /** Replaces any open session of `root`; persists `resources`, culls what this root no longer reports. */
  sessionOpen(
    root: SessionRoot,
    classes: ResourceClassInfo[],
    resources: ReportedResource[],
    updatePeriodS: number,
  ): Promise<void>;
  sessionAddResources(root: SessionRoot, resources: ReportedResource[]): Promise<void>;
  /** `label`: the resource's own label changed (optional, added by label-perf; absent: unchanged). */
  sessionUpdateResource(
    root: SessionRoot,
    handle: number,
    attributes: Record<string, AttributeValue>,
    statistics?: ReportedResource['statistics'],
    label?: string,
  ): Promise<void>;
  sessionResourceAddParent(root: SessionRoot, child: number, parent: number): Promise<void>;
  sessionResourceRemoveParent(root: SessionRoot, child: number, parent: number): Promise<void>;
  /** ScopedId resources removed by the plugin: deleted (referrers first). */
  sessionRemoveLocalResources(root: SessionRoot, handles: number[]): Promise<void>;
  /** GlobalId resources removed: this root stops reporting them (deleted when no reporter remains). */
  sessionRemoveGlobalResources(root: SessionRoot, handles: number[]): Promise<void>;
  sessionNotifyAlert(root: SessionRoot, handle: number, state: AlertState): Promise<void>;
  /** The scan loop of `root` ended (error or stop): offline alert raised; lowered after the next good update. */
  sessionOffline(root: SessionRoot, reason: string): Promise<void>;
  /**
   * Optional: an update round (update_scan / agent data) finished, whether or not it changed
   * anything. The first one after sessionOpen lowers the root's offline alert, as any update call
   * does; without it a root whose update scans change nothing would stay offline.
   */
  sessionUpdateDone?(root: SessionRoot): Promise<void>;
  sessionClose(root: SessionRoot): Promise<void>;
}
