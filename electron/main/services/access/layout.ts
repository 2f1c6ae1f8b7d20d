export { defaultLayout, layoutFromEnv, type ServerLayout } from '../remote/layout';
