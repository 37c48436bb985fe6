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

/** Runs a bench module's `run()` when the module is the program (`npx tsx bench/data-plane/x.ts`). */
export function runWhenMain(moduleUrl: string, run: () => Promise<Row[]>): void {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  run().then(
    (rows) => {
      for (const r of rows) console.log(JSON.stringify(r));
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
