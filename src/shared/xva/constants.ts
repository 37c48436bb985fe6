// Fixed numbers and names of the XVA format (xapi's stream_vdi.ml / importexport.ml).

/** Disk data travels in members of 1 MiB (the last one shorter when the size is not a multiple). */
export const CHUNK_SIZE = 1024 * 1024;
/** The metadata member; always the first one in the archive. */
export const OVA_XML = 'ova.xml';
export const XXHASH_EXT = '.xxhash';
export const SHA1_EXT = '.checksum';
/** export_vsn xapi has written since Miami: inline checksums, no trailing checksum table. */
export const EXPORT_VSN = 2;
/** Member-name prefix of the single-VDI tar (`/export_raw_vdi?format=tar`). */
export const RAW_VDI_TAR_PREFIX = 'vdi';
/** Seconds without output after which xapi's exporter emits an empty keep-alive member. */
export const KEEPALIVE_MS = 5000;
