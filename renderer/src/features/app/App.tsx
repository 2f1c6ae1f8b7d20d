import { useEffect, type ComponentType } from 'react';
import { AccessPage } from '../access/AccessPage';
import { DeploymentsPage } from '../deployments/DeploymentsPage';
import { LogsPage } from '../logs/LogsPage';
import { Checklist } from '../onboarding/Checklist';
import { ProjectsPage } from '../projects/ProjectsPage';
import { ServersPage } from '../servers/ServersPage';
import { SettingsPage } from '../settings/SettingsPage';
import { useSettings } from '../settings/store';
import { Sidebar } from './Sidebar';
import { StatusBar } from './StatusBar';
import { useApp, type Page } from './store';

const pageViews: Record<Page, ComponentType> = {
  projects: ProjectsPage,
  servers: ServersPage,
  deployments: DeploymentsPage,
  logs: LogsPage,
  access: AccessPage,
  settings: SettingsPage,
};

export function App() {
  const page = useApp((s) => s.page);
  const start = useApp((s) => s.start);
  const theme = useSettings((s) => s.settings?.theme ?? 'system');
  const loadSettings = useSettings((s) => s.load);

  useEffect(() => start(), [start]);
  useEffect(() => void loadSettings(), [loadSettings]);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);

  const View = pageViews[page];
  return (
    <div className="app">
      <Sidebar />
      <main className="page" data-page={page}>
        <Checklist />
        <View />
      </main>
      <StatusBar />
    </div>
  );
}
