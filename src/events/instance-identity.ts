import { hostname } from 'node:os';

/**
 * The registry instance events name as their source: `instanceID` is `notifications.instanceid`
 * when set, else the host name and process id; `addr` is the host name and the port it listens on.
 */
export class InstanceIdentity {
  readonly instanceID: string;
  private address: string;

  constructor(configured: string | undefined) {
    this.instanceID = configured ?? `${hostname()}-${process.pid}`;
    this.address = hostname();
  }

  get addr(): string {
    return this.address;
  }

  /** Once the server listens, `addr` names its port too. */
  listeningOn(port: number): void {
    this.address = `${hostname()}:${port}`;
  }
}
