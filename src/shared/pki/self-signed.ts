// The openssl arguments of a self-signed EC (P-256) certificate, for the manager's HTTPS
// certificate and the agent's X.509 procedure: one place that says how Berth makes one.
export function selfSignedCertArgs(opts: {
  commonName: string;
  days: number;
  keyFile: string;
  certFile: string;
  /** subjectAltName entries (`DNS:x`, `IP:y`); none: no extension. */
  subjectAltNames?: string[];
}): string[] {
  return [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    String(opts.days),
    '-subj',
    `/CN=${opts.commonName}`,
    ...(opts.subjectAltNames?.length ? ['-addext', `subjectAltName=${opts.subjectAltNames.join(',')}`] : []),
    '-keyout',
    opts.keyFile,
    '-out',
    opts.certFile,
  ];
}
