export { GATEWAY_BODY_LIMIT_BYTES, type GatewayOptions, gatewayRouter } from './gateway.js';
