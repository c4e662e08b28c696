import { PanelPlugin } from '@grafana/data';
import { BansPanel } from './components/bans-panel/bans-panel';
import { LogsDatasourceEditor } from './components/logs-datasource-editor/logs-datasource-editor';
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
    .addCustomEditor({
      id: 'logsDatasource',
      path: 'logsDatasource',
      name: 'Logs datasource',
      description:
        'The Loki datasource each ban’s “Logs” link opens in Explore, with the jail’s query for that address and time. Empty: the first Loki datasource.',
      editor: LogsDatasourceEditor,
      defaultValue: DEFAULT_OPTIONS.logsDatasource,
    })
    .addTextInput({
      path: 'logsSelector',
      name: 'Logs stream selector',
      description:
        // biome-ignore lint/suspicious/noTemplateCurlyInString: `${jail}` is the placeholder operators write.
        'Used by the logs link when the responder does not publish the jail’s query: the streams to search for the address, ${jail} is replaced.',
      defaultValue: DEFAULT_OPTIONS.logsSelector,
    })
    .addTextInput({
      path: 'ipLink',
      name: 'Extra IP link',
      description:
        // biome-ignore lint/suspicious/noTemplateCurlyInString: `${ip}` is the placeholder operators write.
        'Optional URL opened from a ban’s details; ${ip} is replaced, e.g. a threat-intelligence lookup.',
      defaultValue: DEFAULT_OPTIONS.ipLink,
    }),
);
