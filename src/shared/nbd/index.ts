// Berth's NBD client (no manager or agent imports): how disk bytes leave and enter a host.
//
//   const c = await connectNbd({ socket }, { exportName, metaContexts: [BASE_ALLOCATION] });
//   for await (const e of extents(c)) …            // {offset, length, zero, hole, dirty, flags}
//   for await (const data of readStream(c, { chunkSize: 1 << 20 })) …   // in order, backpressure
//   await writeStream(c, chunks);                   // sequential writes (+ WRITE_ZEROES, FLUSH)
//   await c.read(off, len); await c.write(off, buf); await c.blockStatus(ctx, off, len);
//   await c.disconnect();
//
// The socket comes from the agent's blockdev_nbd_open (src/shared/host/data-plane.ts); a dirty
// bitmap opened with it is the context dirtyBitmapContext(name) (`qemu:dirty-bitmap:<name>`).
// Errors: NbdError (server refused: .code is NBD_REP_ERR_* or an errno name), NbdProtocolError
// (the peer broke the protocol), NbdClosedError (the connection ended first).
export { type HandshakeOptions, handshake, NbdClient, type ReadOptions } from './client.js';
export { connectNbd, type NbdAddress } from './connect.js';
export {
  BASE_ALLOCATION,
  dirtyBitmapContext,
  type ExportInfo,
  type Extent,
  NbdClosedError,
  NbdError,
  NbdProtocolError,
  STATE_DIRTY,
  STATE_HOLE,
  STATE_ZERO,
} from './protocol.js';
export {
  extents,
  type MappedExtent,
  type RangeOptions,
  readStream,
  type StreamOptions,
  type WriteStreamOptions,
  writeStream,
} from './streams.js';
