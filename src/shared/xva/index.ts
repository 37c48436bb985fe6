// XVA, xapi's VM export format (reference: xe-http-xva-rrd.md §5; docs/data-plane.md "XVA format").
// Pure format code: no manager or agent imports; streams in, streams out, backpressure throughout.
//
// Export (/export, /export_raw_vdi?format=tar):
//   const xml = encodeOvaXml(berthOvaVersion(), objects);        // objects: {cls, id, snapshotXml}
//   const tarStream = xvaTarStream(xml, [{ ref: 'Ref:3', virtualSize, chunks }], { onProgress, signal });
//   const body = compressStream(tarStream, compressionOfParam(query.use_compression), signal);
//   await pipeline(body, res);                                   // body is a Readable
//   chunks: chunksFromReader(read(offset, len), virtualSize, { extents })   // NBD pread + block status
//       or  chunksFromStream(rawByteStream, virtualSize)
//   ovaXml = null writes the single-VDI tar (ref 'vdi').
//
// Import (/import, /import_raw_vdi?format=tar):
//   const res = await readXva(req, {
//     metadata: async ({ header, xml, compression }) => { create records; return disks },  // OvaDisk[]
//     chunk: async ({ ref, offset, data }) => { write data at offset (zeros elsewhere) },
//   }, { force, signal });
//   readVdiTar(req, { virtualSize }, { chunk }, { force, signal })
//   Failures are XenApiError with xapi's codes: IMPORT_ERROR [msg], IMPORT_ERROR_PREMATURE_EOF,
//   IMPORT_ERROR_SOME_CHECKSUMS_FAILED, IMPORT_ERROR_UNEXPECTED_FILE [expected; found]; an abort
//   rejects with the signal's reason. disksOfOva(header) is xapi's choice of streamed VDIs;
//   assertCompatibleVersion(file, own) is xapi's IMPORT_INCOMPATIBLE_VERSION check.
export * from './checksum.js';
export * from './compress.js';
export * from './constants.js';
export * from './errors.js';
export * from './ova-xml.js';
export * from './reader.js';
export * from './sources.js';
export * from './writer.js';
