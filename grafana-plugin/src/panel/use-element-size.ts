import { type RefObject, useLayoutEffect, useRef, useState } from 'react';

/**
 * The rendered size of an element, so flex layouts decide the space instead of guessed chrome
 * heights. Until the first measurement (and where ResizeObserver never reports, as in jsdom) the
 * fallback is used.
 */
export function useElementSize<T extends HTMLElement>(fallback: {
  width: number;
  height: number;
}): [RefObject<T>, { width: number; height: number }] {
  const ref = useRef<T>(null);
  const [size, setSize] = useState<{ width: number; height: number } | undefined>();
  useLayoutEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(([entry]) => {
      if (!entry) return;
      const { width, height } = entry.contentRect;
      if (width > 0 && height > 0) setSize({ width, height });
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, size ?? fallback];
}
