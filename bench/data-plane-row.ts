// One figure of bench:data-plane: Berth's, its peer's (measured in the same run), their ratio and
// the target. A figure without a peer (a pause Berth alone has) leaves peer and ratio null.
export interface Row {
  name: string;
  berth: number;
  peer: number | null;
  ratio: number | null;
  target: string | number;
  unit: string;
}
