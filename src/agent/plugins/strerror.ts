// The C library's text for the errno values starting a command can give, as python's OSError
// prints them (`strerror`): upstream plugins report `[errno, strerror, filename]`, so a command
// that cannot start reads "Permission denied", not Node's "spawn zfs EACCES".
import { constants } from 'node:os';

const GLIBC_TEXT: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  E2BIG: 'Argument list too long',
  ENOEXEC: 'Exec format error',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ETXTBSY: 'Text file busy',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
};

/** errno name ("EACCES") -> [errno number, strerror text]; undefined for names it does not know. */
export function strerror(code: string): [number, string] | undefined {
  const errno = (constants.errno as Record<string, number>)[code];
  const text = GLIBC_TEXT[code];
  return errno !== undefined && text !== undefined ? [errno, text] : undefined;
}
