import type { AuthenticationResult, Authenticator } from '../authenticator.ts';
import type { Principal } from '../principal.ts';
import { isRobotName } from './robot-names.ts';
import type { RobotAccount, Robots } from './robots.ts';

/**
 * Robot accounts: every `robot$` name is decided here, so no other source can answer for one. The
 * secret is checked before the state, and a disabled or expired robot is refused with its reason.
 */
export class RobotAuthenticator implements Authenticator {
  readonly name = 'robot';

  constructor(private readonly robots: Robots) {}

  async authenticate(username: string, password: string): Promise<AuthenticationResult> {
    if (!isRobotName(username)) return { outcome: 'unknown' };
    const check = await this.robots.verifySecret(username, password);
    if (check.outcome === 'absent') return { outcome: 'rejected', reason: 'unknown robot account' };
    if (check.outcome === 'invalid') return { outcome: 'rejected', reason: 'wrong secret' };
    if (check.robot.disabled) return { outcome: 'rejected', reason: 'robot account disabled' };
    if (this.robots.isExpired(check.robot)) return { outcome: 'rejected', reason: 'robot account expired' };
    return { outcome: 'authenticated', principal: robotPrincipal(check.robot) };
  }
}

export function robotPrincipal(robot: RobotAccount): Principal {
  return { name: robot.name, source: 'robot', groups: [], admin: false, permissions: robot.permissions };
}
