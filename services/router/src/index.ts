export {
  buildRingCondition,
  buildRouter,
  createRouterApp,
  routerRoutes,
  type BuildRouterOptions,
  type RouterAppOptions,
  type RouterRoutesOptions,
} from './app.ts';
export { RingEmptyError } from './errors.ts';
