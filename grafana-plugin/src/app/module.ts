import { AppPlugin } from '@grafana/data';
import { AppRoot } from './components/app-root/app-root';

export const plugin = new AppPlugin<Record<string, never>>().setRootPage(AppRoot);
