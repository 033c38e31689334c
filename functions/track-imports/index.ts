// FC entry point of the tracker (handler `index.handler`), run by the timer trigger.
import { handleTrackEvent } from '../../shared/track-handler';

export const handler = handleTrackEvent;
