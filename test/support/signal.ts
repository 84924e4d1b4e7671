/** A promise that one part of a test awaits until another part fires it. */
export interface Signal {
  fired: Promise<void>;
  fire(): void;
}

export function signal(): Signal {
  let fire = () => {};
  const fired = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { fired, fire };
}
