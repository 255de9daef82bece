/**
 * The systemd units in systemd/ as systemd itself reads them (`systemd-analyze verify`, when
 * installed: it rejects unknown keys, bad values and missing executables), plus the settings
 * the README promises of them: restart on failure, a file-descriptor limit, hardening, a state
 * directory and an [Install] section. And the LICENSE is the Apache-2.0 package.json names.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

const ROOT = path.join(__dirname, '..', '..');
const UNITS = ['agentlb.service', 'agentlb-agent.service'];

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `key=value` lines of one [section]. */
function section(text: string, name: string): Map<string, string> {
  const body = text.split(/^\[/m).find((part) => part.startsWith(`${name}]`)) ?? '';
  return new Map(
    body
      .split('\n')
      .filter((line) => /^[A-Za-z]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as [string, string]),
  );
}

for (const unit of UNITS) {
  t.test(`${unit}: restart, limits, hardening, state, install`, async (t) => {
    const text = await readFile(path.join(ROOT, 'systemd', unit), 'utf8');
    const service = section(text, 'Service');
    t.equal(service.get('Restart'), 'on-failure');
    t.match(service.get('LimitNOFILE'), /^\d+$/);
    t.equal(service.get('NoNewPrivileges'), 'yes');
    t.equal(service.get('ProtectSystem'), 'strict');
    t.equal(service.get('StateDirectory'), unit.replace('.service', ''));
    t.equal(section(text, 'Install').get('WantedBy'), 'multi-user.target');
    t.match(section(text, 'Unit').get('Description'), /agentlb/);
  });

  t.test(`${unit}: systemd-analyze verify accepts it`, { skip: hasSystemdAnalyze() ? false : 'systemd-analyze is not installed' }, async (t) => {
    // verify checks that ExecStart's program exists: point it at this node instead of the
    // install path (/usr/local/bin), changing nothing else.
    const text = (await readFile(path.join(ROOT, 'systemd', unit), 'utf8')).replace(/\/usr\/local\/bin\/agentlb(-agent)? /g, `${process.execPath} `);
    const file = path.join(t.testdir(), unit);
    await writeFile(file, text);
    const { stdout, stderr } = await promisify(execFile)('systemd-analyze', ['verify', file]);
    t.equal(stderr, '', 'no warnings');
    t.equal(stdout, '');
  });
}

t.test('LICENSE is the Apache License 2.0 that package.json names', async (t) => {
  const license = readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
  t.match(license, /^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
  t.match(license, /END OF TERMS AND CONDITIONS/);
  t.equal((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { license: string }).license, 'Apache-2.0');
});
