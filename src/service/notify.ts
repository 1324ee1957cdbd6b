/**
 * Readiness and status for systemd (`Type=notify`, sd_notify(3)): the daemon says READY=1 once its
 * control socket answers and the configuration is restored, STOPPING=1 when it shuts down, and a
 * STATUS= line `systemctl status` shows. Outside systemd ($NOTIFY_SOCKET unset) nothing is sent.
 */
import { native } from '../ports/native/index.js';

/** sends the state lines; false when not under systemd. A failed send is reported, never thrown:
 *  systemd not listening must not stop the daemon. */
export function notifySystemd(lines: Record<string, string | number>, log?: (m: string) => void): boolean {
  const state = Object.entries(lines).map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`).join('\n');
  try {
    return native.notify(state);
  } catch (e) {
    log?.(`systemd notify (${state.split('\n')[0]}): ${e instanceof Error ? e.message : String(e)}`);
    return false;
  }
}
