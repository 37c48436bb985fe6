// Failures the NFS driver reports as xapi's SM backends do: SR_BACKEND_FAILURE_<code> with
// ["", "<description>[ [opterr=<detail>]]", "<stderr>"], codes and descriptions from SM's
// XE_SR_ERRORCODES.xml (what `xe` prints for a failed NFS SR.create/probe on XenServer).
import { XenApiError } from '../../shared/errors.js';

export const SM_ERRORS = {
  NFSVersion: { code: 72, description: 'Required NFS server version unsupported' },
  NFSMount: { code: 73, description: 'NFS mount error' },
  NFSUnMount: { code: 74, description: 'NFS unmount error' },
  NFSAttached: { code: 75, description: 'NFS mount point already attached' },
  NFSDelete: { code: 76, description: 'Failed to remove NFS mount point' },
  NFSCreate: { code: 88, description: 'NFS SR creation error' },
  ConfigServerPathMissing: { code: 101, description: 'The request is missing the serverpath parameter' },
  ConfigServerMissing: { code: 102, description: 'The request is missing the server parameter' },
  ConfigServerPathBad: { code: 103, description: 'The serverpath argument is not valid' },
  NFSTarget: { code: 108, description: 'Unable to detect an NFS service on this target.' },
  DNSError: { code: 140, description: 'Incorrect DNS name, unable to resolve.' },
  SRExists: { code: 42, description: 'The SR already exists' },
  SRUnavailable: { code: 47, description: 'The SR is not available' },
} as const;

export type SmErrorName = keyof typeof SM_ERRORS;

/** SR_BACKEND_FAILURE_<code> ["", description [opterr=…], stderr] as xapi reports an SM error. */
export function smError(name: SmErrorName, opterr?: string, stderr = ''): XenApiError {
  const { code, description } = SM_ERRORS[name];
  const text = opterr === undefined ? description : `${description} [opterr=${opterr}]`;
  return new XenApiError(`SR_BACKEND_FAILURE_${code}`, ['', text, stderr]);
}
