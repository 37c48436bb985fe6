export const version = 1;
import { Plugin } from "x";
class Bad extends Plugin {
  initialScan() { return [1, 2,; }
}
