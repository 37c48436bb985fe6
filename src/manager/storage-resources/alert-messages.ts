// Alert texts as IML words them (reference §7).

/** `<condition message> (<class label> <alias or label>)`, e.g. `Controller failure (Controller Controller foo)`. */
export const conditionMessage = (conditionText: string, classLabel: string, aliasOrLabel: string) =>
  `${conditionText} (${classLabel} ${aliasOrLabel})`;

export const clearedMessage = (message: string) => `Cleared storage alert: ${message}`;

export const offlineMessage = (name: string) => `${name} not contactable`;

export const reconnectedMessage = (name: string) => `Re-established contact with ${name}`;

/** The alert class of a root's offline alert (IML's StorageResourceOffline, WARNING). */
export const OFFLINE_ALERT_CLASS = 'StorageResourceOffline';
export const OFFLINE_SEVERITY = 30;
