// The XenAPI errors an XVA import fails with (ocaml/xapi-consts/api_errors.ml, import.ml).
import { XenApiError } from '../errors.js';

/** IMPORT_ERROR [msg]: xapi wraps every other import failure in this with a message. */
export const importError = (msg: string) => new XenApiError('IMPORT_ERROR', [msg]);
/** IMPORT_ERROR_PREMATURE_EOF []: the archive (or its compressed stream) ended early. */
export const prematureEof = () => new XenApiError('IMPORT_ERROR_PREMATURE_EOF', []);
/** IMPORT_ERROR_SOME_CHECKSUMS_FAILED []: a chunk's data does not match its checksum member. */
export const checksumsFailed = () => new XenApiError('IMPORT_ERROR_SOME_CHECKSUMS_FAILED', []);
/** IMPORT_ERROR_UNEXPECTED_FILE [expected; found]: the first member is not ova.xml. */
export const unexpectedFile = (expected: string, found: string) =>
  new XenApiError('IMPORT_ERROR_UNEXPECTED_FILE', [expected, found]);
/** IMPORT_INCOMPATIBLE_VERSION []: the export's xapi version is newer than ours. */
export const incompatibleVersion = () => new XenApiError('IMPORT_INCOMPATIBLE_VERSION', []);

/** "Invalid XVA file: …", the wording xapi's stream reader fails with, plus what was wrong. */
export const invalidXva = (what: string) => importError(`Invalid XVA file: ${what}`);

export const LEGACY_FORMAT_MESSAGE =
  'Legacy XVA format (Zurich/Geneva directory export: ova.xml with an <appliance> root and ' +
  'chunk-NNNNNNNNN.gz disk files) is not supported; xapi removed its import in 2021. ' +
  'Import it into an old XenServer and export it again, or convert its disks and import them ' +
  'with /import_raw_vdi.';
export const legacyFormat = () => importError(LEGACY_FORMAT_MESSAGE);
