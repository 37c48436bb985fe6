// The error every refused session call raises: the call changed nothing (its transaction rolled back).
export class ResourceStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResourceStoreError';
  }
}
