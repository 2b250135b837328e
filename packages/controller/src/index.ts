/** `@virtvault/controller`: scheduling, dispatch, lineage and reports across the fleet. */
export const CONTROLLER_COMPONENT = 'controller';
