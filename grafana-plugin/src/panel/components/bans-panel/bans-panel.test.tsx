import { LoadingState, OrgRole } from '@grafana/data';
import { config, setDataSourceSrv } from '@grafana/runtime';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import React from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  apiBan,
  apiStats,
  manyBans,
  NOW,
  overviewFrames,
  panelData,
  panelProps,
} from '../../../../test/factories';
import type { ApiBan } from '../../../shared/api-types';
import { bansToFrame } from '../../../shared/frames';
import type { JailLogs } from '../../../shared/logs-link';
import type { LokibanResponderApi } from '../../../shared/responder-api';
import { TEST_IDS } from '../../constants';
import { BansPanel } from './bans-panel';

function fakeApi(overrides: Partial<LokibanResponderApi> = {}) {
  const api = {
    lokibanResponder: true as const,
    history: vi.fn(async (ip: string): Promise<ApiBan[]> => [apiBan({ id: 90, ip, level: 0 })]),
    unban: vi.fn(
      async (ip: string, jail?: string): Promise<ApiBan[]> => [apiBan({ ip, jail: jail ?? 'sshd' })],
    ),
    extend: vi.fn(
      async (ip: string, jail: string): Promise<ApiBan> => apiBan({ id: 1, ip, jail, expiresAt: null }),
    ),
    jails: vi.fn(
      async (): Promise<JailLogs[]> => [
        { name: 'sshd', findtime: 600, logql: '{job="sshd"} | regexp `from (?P<ip>\\S+)`' },
        { name: 'postfix-sasl', findtime: 3600 },
      ],
    ),
    ...overrides,
  };
  const loki = { uid: 'loki-1', name: 'Loki', type: 'loki' };
  setDataSourceSrv({
    get: async () => api,
    getList: (filters?: { type?: string }) => (filters?.type === 'loki' ? [loki] : []),
    getInstanceSettings: (ref: string) => (ref === loki.uid || ref === loki.name ? loki : undefined),
  } as never);
  return api;
}

function setRole(orgRole: OrgRole) {
  config.bootData.user = { ...config.bootData.user, orgRole, isGrafanaAdmin: false };
}

function rowTexts() {
  return screen.getAllByTestId(TEST_IDS.row).map((row) => row.textContent ?? '');
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
  setRole(OrgRole.Editor);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('BansPanel', () => {
  it('shows active bans with jail, hosts, level, countdown and permanent bans', async () => {
    fakeApi();
    const bans = [
      apiBan({ id: 1, ip: '203.0.113.7', level: 2 }),
      apiBan({ id: 2, ip: '2001:db8::/64', jail: 'nginx-http-auth', expiresAt: null }),
    ];
    render(<BansPanel {...panelProps(panelData(overviewFrames(bans)), {}, { width: 1200, height: 500 })} />);
    const rows = rowTexts();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('203.0.113.7');
    expect(rows[0]).toContain('sshd');
    expect(rows[0]).toContain('web1');
    expect(rows[0]).toContain('55m 00s');
    expect(rows[1]).toContain('2001:db8::/64');
    expect(rows[1]).toContain('permanent');
    expect(screen.getByTestId(TEST_IDS.count).textContent).toBe('2 active');
  });

  it('counts down live', async () => {
    fakeApi();
    render(<BansPanel {...panelProps(panelData(overviewFrames([apiBan()])))} />);
    expect(screen.getByTestId(TEST_IDS.expires).textContent).toBe('55m 00s');
    vi.setSystemTime(NOW + 61_000);
    await waitFor(() => expect(screen.getByTestId(TEST_IDS.expires).textContent).toBe('53m 59s'), {
      timeout: 2500,
    });
  });

  it('sorts numerically by IP and toggles the direction', () => {
    fakeApi();
    const bans = ['10.0.0.10', '10.0.0.9', '2001:db8::1', '9.9.9.9'].map((ip, i) =>
      apiBan({ id: i + 1, ip }),
    );
    render(<BansPanel {...panelProps(panelData(overviewFrames(bans)))} />);
    fireEvent.click(screen.getByTestId(TEST_IDS.sortButton('ip')));
    const ips = () => screen.getAllByTestId(TEST_IDS.ip).map((cell) => cell.textContent);
    expect(ips()).toEqual(['9.9.9.9', '10.0.0.9', '10.0.0.10', '2001:db8::1']);
    fireEvent.click(screen.getByTestId(TEST_IDS.sortButton('ip')));
    expect(ips()[0]).toBe('2001:db8::1');
  });

  it('sorts by expiry with permanent bans last', () => {
    fakeApi();
    const bans = [
      apiBan({ id: 1, ip: '192.0.2.1', expiresAt: null }),
      apiBan({ id: 2, ip: '192.0.2.2', expiresAt: new Date(NOW + 3_600_000 * 3).toISOString() }),
      apiBan({ id: 3, ip: '192.0.2.3', expiresAt: new Date(NOW + 60_000).toISOString() }),
    ];
    render(<BansPanel {...panelProps(panelData(overviewFrames(bans)))} />);
    expect(rowTexts().map((text) => text.slice(0, 9))).toEqual(['192.0.2.3', '192.0.2.2', '192.0.2.1']);
  });

  it('filters by jail, host and free text', () => {
    fakeApi();
    const bans = [
      apiBan({ id: 1, ip: '198.51.100.1', jail: 'sshd' }),
      apiBan({ id: 2, ip: '198.51.100.2', jail: 'postfix-sasl' }),
      apiBan({
        id: 3,
        ip: '192.0.2.3',
        jail: 'sshd',
        hosts: [
          {
            host: 'mail1',
            desired: 'present',
            state: 'failed',
            attempts: 3,
            lastError: 'x',
            appliedAt: null,
          },
        ],
      }),
    ];
    render(<BansPanel {...panelProps(panelData(overviewFrames(bans)))} />);
    const input = within(screen.getByTestId(TEST_IDS.filter)).getByRole('textbox');
    fireEvent.change(input, { target: { value: 'jail:sshd' } });
    expect(rowTexts()).toHaveLength(2);
    expect(screen.getByTestId(TEST_IDS.count).textContent).toBe('2 of 3');
    fireEvent.change(input, { target: { value: 'jail:sshd host:mail1' } });
    expect(rowTexts()).toHaveLength(1);
    expect(rowTexts()[0]).toContain('192.0.2.3');
    fireEvent.change(input, { target: { value: '198.51.100' } });
    expect(rowTexts()).toHaveLength(2);
  });

  it('keeps only the visible rows in the DOM for 10,000 bans', () => {
    fakeApi();
    render(<BansPanel {...panelProps(panelData(overviewFrames(manyBans(10_000))))} />);
    expect(screen.getByTestId(TEST_IDS.count).textContent).toBe('10000 active');
    const rendered = screen.getAllByTestId(TEST_IDS.row).length;
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(60);
    const body = screen.getByTestId(TEST_IDS.tableBody);
    body.scrollTop = 32 * 5000;
    fireEvent.scroll(body);
    expect(rowTexts().some((text) => text.startsWith('10.0.'))).toBe(true);
    expect(screen.getAllByTestId(TEST_IDS.row).length).toBeLessThan(60);
  });

  it('drops columns at small sizes but keeps ip, jail and expiry', () => {
    fakeApi();
    render(
      <BansPanel {...panelProps(panelData(overviewFrames([apiBan()])), {}, { width: 320, height: 200 })} />,
    );
    const text = rowTexts()[0] ?? '';
    expect(text).toContain('203.0.113.1');
    expect(text).toContain('55m 00s');
    expect(text).not.toContain('web1');
  });

  it('unbans after confirmation and shows the result', async () => {
    const api = fakeApi();
    const bans = [apiBan({ id: 1, ip: '203.0.113.7' }), apiBan({ id: 2, ip: '203.0.113.8' })];
    render(<BansPanel {...panelProps(panelData(overviewFrames(bans)))} />);
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    const details = await screen.findByTestId(TEST_IDS.details);
    await waitFor(() => expect(within(details).getByTestId(TEST_IDS.ipHistory).textContent).toContain('1st'));
    fireEvent.click(await within(details).findByTestId(TEST_IDS.unbanButton));
    expect(api.unban).not.toHaveBeenCalled();
    const dialog = await screen.findByRole('dialog');
    expect(dialog.textContent).toContain('Unban 203.0.113.7?');
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: /^Unban$/ }));
    });
    expect(api.unban).toHaveBeenCalledWith('203.0.113.7', 'sshd');
    await waitFor(() =>
      expect(screen.getByTestId(TEST_IDS.result).textContent).toContain('Unbanned 203.0.113.7'),
    );
    expect(rowTexts()).toHaveLength(1);
    expect(rowTexts()[0]).toContain('203.0.113.8');
  });

  it('does not unban when the confirmation is dismissed', async () => {
    const api = fakeApi();
    render(<BansPanel {...panelProps(panelData(overviewFrames([apiBan()])))} />);
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    fireEvent.click(await screen.findByTestId(TEST_IDS.unbanButton));
    const dialog = await screen.findByRole('dialog');
    fireEvent.click(within(dialog).getByRole('button', { name: /Cancel/ }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(api.unban).not.toHaveBeenCalled();
    expect(rowTexts()).toHaveLength(1);
  });

  it('extends with the chosen duration and shows the new expiry', async () => {
    const api = fakeApi();
    render(<BansPanel {...panelProps(panelData(overviewFrames([apiBan({ id: 1, ip: '203.0.113.7' })])))} />);
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    fireEvent.click(await screen.findByTestId(TEST_IDS.extendButton));
    const dialog = await screen.findByRole('dialog');
    fireEvent.click(within(dialog).getByLabelText('permanent'));
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: /Extend \(permanent\)/ }));
    });
    expect(api.extend).toHaveBeenCalledWith('203.0.113.7', 'sshd', '-1');
    await waitFor(() =>
      expect(screen.getByTestId(TEST_IDS.result).textContent).toContain('Extended 203.0.113.7'),
    );
    expect(rowTexts()[0]).toContain('permanent');
  });

  it('reports a refused unban without hiding the ban', async () => {
    fakeApi({
      unban: vi.fn(async () => {
        throw new Error('Not allowed: needs an admin token');
      }),
    });
    render(<BansPanel {...panelProps(panelData(overviewFrames([apiBan({ ip: '203.0.113.7' })])))} />);
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    fireEvent.click(await screen.findByTestId(TEST_IDS.unbanButton));
    const dialog = await screen.findByRole('dialog');
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: /^Unban$/ }));
    });
    await waitFor(() =>
      expect(screen.getByTestId(TEST_IDS.result).textContent).toContain('needs an admin token'),
    );
    expect(rowTexts()).toHaveLength(1);
  });

  it('links the IP with the configured template, and refuses script URLs', async () => {
    fakeApi();
    const data = panelData(overviewFrames([apiBan({ ip: '2001:db8::/64' })]));
    const { rerender } = render(
      <BansPanel {...panelProps(data, { ipLink: `https://intel.example/ip/\${ip}` })} />,
    );
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    const link = await screen.findByRole('link', { name: /More about/ });
    expect(link.getAttribute('href')).toBe('https://intel.example/ip/2001%3Adb8%3A%3A%2F64');
    rerender(<BansPanel {...panelProps(data, { ipLink: `javascript:alert(\${ip})` })} />);
    await screen.findByTestId(TEST_IDS.details);
    expect(screen.queryByRole('link', { name: /More about/ })).toBeNull();
  });

  it('links each ban to Explore with the jail’s query for that address and time range', async () => {
    fakeApi();
    const bans = [
      apiBan({ id: 1, ip: '203.0.113.7', jail: 'sshd' }),
      apiBan({ id: 2, ip: '198.51.100.0/24', jail: 'postfix-sasl' }),
    ];
    render(<BansPanel {...panelProps(panelData(overviewFrames(bans)), {}, { width: 1200, height: 500 })} />);
    const pane = (href: string | null) => {
      const panes = JSON.parse(new URLSearchParams(href!.slice(href!.indexOf('?'))).get('panes')!);
      return panes.lokiban as {
        datasource: string;
        queries: Array<{ expr: string }>;
        range: { from: string };
      };
    };
    await waitFor(() => {
      const sshd = pane(screen.getAllByTestId(TEST_IDS.logsLink)[0]!.getAttribute('href'));
      expect(sshd.queries[0]!.expr).toBe(
        '{job="sshd"} | regexp `from (?P<ip>\\S+)` | ip = ip("203.0.113.7")',
      );
    });
    const links = screen.getAllByTestId(TEST_IDS.logsLink);
    const sshd = pane(links[0]!.getAttribute('href'));
    expect(sshd.datasource).toBe('loki-1');
    expect(Number(sshd.range.from)).toBe(NOW - 5 * 60_000 - 600_000);
    // No published query for this jail: the panel's selector and a line filter for the /24.
    const postfix = pane(links[1]!.getAttribute('href'));
    expect(postfix.queries[0]!.expr).toMatch(/^\{job=~"\.\+"\} \|~ `.*198\\\.51\\\.100\\\.\[0-9\]\{1,3\}/);
    expect(Number(postfix.range.from)).toBe(NOW - 5 * 60_000 - 3_600_000);
    // Following the link does not select the row.
    fireEvent.click(links[0]!);
    expect(screen.queryByTestId(TEST_IDS.details)).toBeNull();
  });

  it('says why there is no logs link without a Loki datasource', () => {
    fakeApi();
    render(
      <BansPanel {...panelProps(panelData(overviewFrames([apiBan()])), { logsDatasource: 'prometheus' })} />,
    );
    expect(screen.queryByTestId(TEST_IDS.logsLink)).toBeNull();
    expect(screen.getByLabelText('No logs link').getAttribute('title')).toContain(
      '“prometheus” is not a Loki datasource',
    );
  });

  it('counts offences from one instead of showing the escalation level', () => {
    fakeApi();
    const bans = [
      apiBan({ id: 1, ip: '203.0.113.7', level: 0 }),
      apiBan({ id: 2, ip: '203.0.113.8', level: 2 }),
    ];
    render(<BansPanel {...panelProps(panelData(overviewFrames(bans)), {}, { width: 1200, height: 500 })} />);
    const offences = screen.getAllByTestId(TEST_IDS.offence);
    expect(offences.map((cell) => cell.textContent)).toEqual(['#1', '#3']);
    expect(offences[1]!.getAttribute('title')).toBe(
      '3rd offence: 2 earlier bans of this address made this one longer',
    );
    expect(screen.queryByText(/level/i)).toBeNull();
  });

  it('shows the enforcement state as an icon and a word, not a colour alone', () => {
    fakeApi();
    const target = (state: 'applied' | 'pending' | 'failed' | 'dry-run') => ({
      host: 'web1',
      desired: 'present' as const,
      state,
      attempts: 1,
      lastError: state === 'failed' ? 'ssh: connection refused' : null,
      appliedAt: null,
    });
    const bans = (['applied', 'pending', 'failed', 'dry-run'] as const).map((state, i) =>
      apiBan({ id: i + 1, ip: `192.0.2.${i + 1}`, hosts: [target(state)] }),
    );
    render(<BansPanel {...panelProps(panelData(overviewFrames(bans)), {}, { width: 1200, height: 500 })} />);
    const states = screen.getAllByTestId(TEST_IDS.state);
    expect(states.map((state) => state.textContent)).toEqual(['enforced', 'pending', 'failed', 'dry-run']);
    // The table's column says the short word; its tooltip says what it means.
    expect(states[3]!.getAttribute('title')).toBe('web1: dry-run (would apply)');
    for (const state of states) expect(state.querySelector('svg, [class*="Icon"], div')).not.toBeNull();
    expect(states[2]!.getAttribute('title')).toContain('ssh: connection refused');
  });

  it('writes absolute times in the dashboard’s time zone, naming it', async () => {
    fakeApi();
    const props = panelProps(
      panelData(overviewFrames([apiBan({ ip: '203.0.113.7' })])),
      {},
      { width: 1200, height: 500 },
    );
    render(<BansPanel {...props} timeZone="Europe/Berlin" />);
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    const details = await screen.findByTestId(TEST_IDS.details);
    // The factory's ban was created at 07:55 UTC, 08:55 in Berlin in November.
    expect(details.textContent).toContain('2026-11-27 08:55:00 CET');
    expect(details.textContent).toContain('2026-11-27 09:55:00 CET');
  });

  it('lists each host’s enforcement in the details', async () => {
    fakeApi();
    const ban = apiBan({
      ip: '203.0.113.7',
      hosts: [
        {
          host: 'web1',
          desired: 'present',
          state: 'applied',
          attempts: 1,
          lastError: null,
          appliedAt: NOW - 1000,
        },
        {
          host: 'web2',
          desired: 'present',
          state: 'failed',
          attempts: 4,
          lastError: 'sudo: a password is required',
          appliedAt: null,
        },
      ],
    });
    render(<BansPanel {...panelProps(panelData(overviewFrames([ban])), {}, { width: 1200, height: 500 })} />);
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    const hosts = await screen.findByTestId(TEST_IDS.detailsHosts);
    const rows = within(hosts)
      .getAllByRole('row')
      .map((row) => row.textContent);
    expect(rows.some((text) => text?.includes('web1') && text.includes('enforced'))).toBe(true);
    expect(
      rows.some((text) => text?.includes('web2') && text.includes('failed') && text.includes('password')),
    ).toBe(true);
  });

  it('offers no unban to viewers', async () => {
    setRole(OrgRole.Viewer);
    fakeApi();
    render(<BansPanel {...panelProps(panelData(overviewFrames([apiBan()])))} />);
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    const details = await screen.findByTestId(TEST_IDS.details);
    await waitFor(() => expect(details.textContent).toContain('available to Editors and Admins'));
    expect(screen.queryByTestId(TEST_IDS.unbanButton)).toBeNull();
  });

  it('offers no unban when actions are switched off', async () => {
    fakeApi();
    render(<BansPanel {...panelProps(panelData(overviewFrames([apiBan()])), { allowActions: false })} />);
    fireEvent.click(screen.getAllByTestId(TEST_IDS.row)[0]!);
    await screen.findByTestId(TEST_IDS.details);
    await waitFor(() => expect(screen.getByTestId(TEST_IDS.ipHistory).textContent).toContain('1st'));
    expect(screen.queryByTestId(TEST_IDS.unbanButton)).toBeNull();
  });

  it('shows loading, empty, error and unreachable states with guidance', () => {
    fakeApi();
    const { rerender } = render(
      <BansPanel {...panelProps(panelData([], { state: LoadingState.Loading }))} />,
    );
    expect(screen.getByTestId(TEST_IDS.loading)).toBeTruthy();

    rerender(<BansPanel {...panelProps(panelData(overviewFrames([])))} />);
    expect(screen.getByTestId(TEST_IDS.empty).textContent).toContain('No active bans');

    rerender(
      <BansPanel
        {...panelProps(
          panelData([], { state: LoadingState.Error, errors: [{ message: 'Responder answered HTTP 500' }] }),
        )}
      />,
    );
    expect(screen.getByTestId(TEST_IDS.error).textContent).toContain('HTTP 500');

    rerender(
      <BansPanel
        {...panelProps(
          panelData([], {
            state: LoadingState.Error,
            errors: [
              { message: 'Responder unreachable (HTTP 502): check that lokiban is running', status: 502 },
            ],
          }),
        )}
      />,
    );
    expect(screen.getByTestId(TEST_IDS.unreachable).textContent).toContain('Save & test');

    rerender(<BansPanel {...panelProps(panelData([]))} />);
    expect(screen.getByTestId(TEST_IDS.error).textContent).toContain('Overview');
  });

  it('names the fields it cannot find', () => {
    fakeApi();
    const frame = bansToFrame([apiBan()]);
    frame.fields = frame.fields.filter((field) => field.name !== 'expiresAt');
    render(<BansPanel {...panelProps(panelData([frame]))} />);
    expect(screen.getByTestId(TEST_IDS.error).textContent).toContain('expiresAt (time)');
  });

  it('draws history per jail and lists top offenders that filter the table', () => {
    fakeApi();
    render(
      <BansPanel
        {...panelProps(
          panelData(overviewFrames([apiBan(), apiBan({ id: 2, jail: 'postfix-sasl' })], apiStats())),
        )}
      />,
    );
    fireEvent.click(within(screen.getByTestId(TEST_IDS.tabHistory)).getByText('History'));
    const chart = screen.getByTestId(TEST_IDS.historyChart);
    expect(chart.querySelectorAll('rect')).toHaveLength(3);
    expect(chart.querySelector('title')?.textContent).toMatch(/nginx-http-auth: 1|sshd: 4/);

    fireEvent.click(within(screen.getByTestId(TEST_IDS.tabOffenders)).getByText('Offenders'));
    expect(screen.getByTestId(TEST_IDS.topList('ips')).textContent).toContain('203.0.113.73');
    expect(screen.getByTestId(TEST_IDS.topList('prefixes')).textContent).toContain('2001:db8::/64');
    expect(screen.getByTestId(TEST_IDS.topList('hosts')).textContent).toContain('web1');
    fireEvent.click(within(screen.getByTestId(TEST_IDS.topList('jails'))).getByText('sshd'));
    expect(screen.getByTestId(TEST_IDS.count).textContent).toBe('1 of 2');
  });
});
