import type { Document } from 'domhandler';
import { DomHandler, Parser, type Options } from 'htmlparser2';
import { DocentError } from '../../core/errors.ts';

/**
 * Deepest element nesting accepted in HTML and in the XML parts of a DOCX; real documents stay
 * far below it. htmlparser2 shifts and searches its array of open elements on every tag, so a
 * page nested a million levels deep takes minutes. Stopping at this depth keeps parsing fast.
 */
export const MAX_MARKUP_DEPTH = 4096;

/**
 * Parses HTML or XML into a DOM like htmlparser2's `parseDocument`, but raises
 * PARSE_LIMIT_EXCEEDED as soon as elements nest deeper than MAX_MARKUP_DEPTH.
 */
export function parseMarkup(text: string, options: Options = {}): Document {
  const handler = new DepthLimitedHandler(options);
  new Parser(handler, options).end(text);
  return handler.root;
}

class DepthLimitedHandler extends DomHandler {
  private depth = 0;

  constructor(options: Options) {
    super(undefined, options);
  }

  override onopentag(name: string, attributes: Record<string, string>): void {
    this.depth += 1;
    if (this.depth > MAX_MARKUP_DEPTH) {
      throw new DocentError(
        'PARSE_LIMIT_EXCEEDED',
        `The markup nests elements more than ${MAX_MARKUP_DEPTH} levels deep, which no real document does; the file was not parsed.`,
      );
    }
    super.onopentag(name, attributes);
  }

  override onclosetag(): void {
    this.depth -= 1;
    super.onclosetag();
  }
}
