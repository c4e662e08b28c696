import { PanelPlugin } from '@grafana/data';
import { BansPanel } from './components/bans-panel/bans-panel';
import { type BansPanelOptions, DEFAULT_OPTIONS } from './types';

export const plugin = new PanelPlugin<BansPanelOptions>(BansPanel).setPanelOptions((builder) =>
  builder
    .addRadio({
      path: 'defaultTab',
      name: 'Open on',
      defaultValue: DEFAULT_OPTIONS.defaultTab,
      settings: {
        options: [
          { value: 'active', label: 'Active bans' },
          { value: 'history', label: 'History' },
          { value: 'offenders', label: 'Offenders' },
        ],
      },
      showIf: (options) => options.showHistory,
    })
    .addBooleanSwitch({
      path: 'showHistory',
      name: 'History and offenders',
      description:
        'Bans over time, top IPs and prefixes, per jail and host. Needs the Overview or Stats query.',
      defaultValue: DEFAULT_OPTIONS.showHistory,
    })
    .addNumberInput({
      path: 'topLimit',
      name: 'Top list length',
      defaultValue: DEFAULT_OPTIONS.topLimit,
      settings: { min: 1, max: 100, integer: true },
      showIf: (options) => options.showHistory,
    })
    .addBooleanSwitch({
      path: 'allowActions',
      name: 'Unban and extend',
      description:
        'Offered to Editors and Admins only; the datasource also needs an admin-role token. Grafana checks the role again server side.',
      defaultValue: DEFAULT_OPTIONS.allowActions,
    })
    .addTextInput({
      path: 'extendDurations',
      name: 'Extend durations',
      description: 'Comma-separated: 1h, 1d, 1w; -1 means permanent.',
      defaultValue: DEFAULT_OPTIONS.extendDurations,
      showIf: (options) => options.allowActions,
    })
    .addTextInput({
      path: 'ipLink',
      name: 'IP link',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: `${ip}` is the placeholder operators write.
      description: 'Optional URL opened from an IP; ${ip} is replaced, e.g. an Explore query on Loki.',
      defaultValue: DEFAULT_OPTIONS.ipLink,
    }),
);
