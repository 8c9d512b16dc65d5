import { InvalidArgumentError } from 'commander';

/** Parses a positive integer option, rejecting anything else with the value in the message. */
export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1)
    throw new InvalidArgumentError(`"${value}" is not a positive integer.`);
  return parsed;
}
