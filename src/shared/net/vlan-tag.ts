// 802.1Q tags Berth accepts (0..4094, as xapi's VLAN.create): checked by the manager and the agent.

export const validVlanTag = (tag: unknown): tag is number =>
  typeof tag === 'number' && Number.isInteger(tag) && tag >= 0 && tag <= 4094;
