/**
 * The README's Prometheus scrape config and alert rules, as Prometheus reads them: extracted
 * from README.md, checked by `promtool check config` / `check rules`, and unit-tested with
 * `promtool test rules`: each alert fires on the series agentlb exports (at 0 from the start,
 * test/admin/metrics-zeros.test.ts) and stays quiet when it should. Skipped, with a message,
 * where promtool (Debian's `prometheus` package; .ci/run installs it) is missing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

const README = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The ```yaml block of README.md whose first line is `# NAME`. */
function block(name: string): string {
  const found = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((text) => text.startsWith(`# ${name}\n`));
  if (found === undefined) throw new Error(`README.md has no yaml block starting with "# ${name}"`);
  return found;
}

const skip = hasPromtool() ? false : 'promtool is not installed (apt-get install prometheus); the README blocks were not checked';

/** Series for promtool's unit tests: every 1m for 20 minutes. */
const TESTS = `rule_files:
  - agentlb-alerts.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="agentlb", instance="m1:8251"}'
        values: '1x20'
      - series: 'up{job="agentlb", instance="m2:8251"}'
        values: '1 1 0x18'
      # m1: agents; m2: none and not draining; m3: none but draining (intended).
      - series: 'agentlb_connected_agents{job="agentlb", instance="m1:8251", zone="default", server="m1:8250"}'
        values: '5x20'
      - series: 'agentlb_connected_agents{job="agentlb", instance="m2:8251", zone="default", server="m2:8250"}'
        values: '0x20'
      - series: 'agentlb_connected_agents{job="agentlb", instance="m3:8251", zone="default", server="m3:8250"}'
        values: '0x20'
      - series: 'agentlb_drain_active{job="agentlb", instance="m1:8251"}'
        values: '0x20'
      - series: 'agentlb_drain_active{job="agentlb", instance="m2:8251"}'
        values: '0x20'
      - series: 'agentlb_drain_active{job="agentlb", instance="m3:8251"}'
        values: '1x20'
      - series: 'agentlb_peer_servers{job="agentlb", instance="m1:8251", state="down"}'
        values: '0 0 0 1x17'
      - series: 'agentlb_peer_servers{job="agentlb", instance="m3:8251", state="down"}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 1m
        alertname: AgentlbServerDown
        exp_alerts: []
      - eval_time: 10m
        alertname: AgentlbServerDown
        exp_alerts:
          - exp_labels: { severity: critical, job: agentlb, instance: 'm2:8251' }
            exp_annotations: { summary: 'agentlb server m2:8251 does not answer /metrics' }
      - eval_time: 5m
        alertname: AgentlbNoAgents
        exp_alerts: []
      - eval_time: 15m
        alertname: AgentlbNoAgents
        exp_alerts:
          - exp_labels: { severity: warning, instance: 'm2:8251' }
            exp_annotations: { summary: 'agentlb server m2:8251 has had no agent for 10 minutes' }
      - eval_time: 4m
        alertname: AgentlbPeerServerDown
        exp_alerts: []
      - eval_time: 12m
        alertname: AgentlbPeerServerDown
        exp_alerts:
          - exp_labels: { severity: critical, job: agentlb, instance: 'm1:8251', state: down }
            exp_annotations: { summary: '1 management server(s) missed their heartbeats, seen from m1:8251' }
`;

t.test('the scrape config and the alert rules pass promtool, and the alerts fire when they should', { skip }, async (t) => {
  const dir = t.testdir();
  await writeFile(path.join(dir, 'prometheus.yml'), block('prometheus.yml'));
  await writeFile(path.join(dir, 'agentlb-alerts.yml'), block('agentlb-alerts.yml'));
  await writeFile(path.join(dir, 'agentlb-alerts.test.yml'), TESTS);
  const run = (args: string[]) => promisify(execFile)('promtool', args, { cwd: dir });
  t.match((await run(['check', 'config', 'prometheus.yml'])).stdout, /SUCCESS: 3 rules found/);
  t.match((await run(['check', 'rules', 'agentlb-alerts.yml'])).stdout, /SUCCESS: 3 rules found/);
  t.match((await run(['test', 'rules', 'agentlb-alerts.test.yml'])).stdout, /SUCCESS/);
});

t.test('the README has both blocks', async (t) => {
  t.match(block('prometheus.yml'), /job_name: agentlb/);
  t.equal((block('agentlb-alerts.yml').match(/- alert: /g) ?? []).length, 3);
});
