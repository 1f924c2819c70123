export {
  CONFIG_VARIABLES,
  type Config,
  ConfigError,
  type ConfigIssue,
  type ConfigKey,
  type ConfigOverrides,
  DEFAULT_DATA_DIR,
  DEFAULT_PORT,
  generateAdminToken,
  loadConfig,
  MIN_ADMIN_TOKEN_LENGTH,
  tollgateOptions,
} from './config.js';
export { describeConfig } from './describe.js';
