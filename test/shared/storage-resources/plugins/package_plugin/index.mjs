// A plugin as a package directory whose classes live in a submodule.
export { version, Box, BoxPlugin } from './impl.mjs';
