import t from 'tap';
import { AnnouncementError, parseAnnouncement } from '../../src/store/pg/notify';

t.test('announcements the triggers send are parsed', async (t) => {
  t.same(parseAnnouncement('{"from":"i-1","kind":"settings","version":7}'), { from: 'i-1', kind: 'settings', version: 7 });
  t.same(parseAnnouncement('{"from":null,"kind":"host-added","ids":[3,4]}'), { from: null, kind: 'host-added', ids: [3, 4] });
  t.same(parseAnnouncement('{"kind":"host-removed","ids":[9]}'), { from: null, kind: 'host-removed', ids: [9] }, 'a missing "from" is nobody');
});

t.test('anything else is an AnnouncementError value naming the problem', async (t) => {
  const cases: [string, string][] = [
    ['not json', 'announcement is not JSON'],
    ['[1]', 'announcement is not an object'],
    ['null', 'announcement is not an object'],
    ['{"from":5,"kind":"settings","version":1}', 'announcement "from" is not a string or null'],
    ['{"kind":"settings"}', 'settings announcement has no valid "version"'],
    ['{"kind":"settings","version":-1}', 'settings announcement has no valid "version"'],
    ['{"kind":"settings","version":1.5}', 'settings announcement has no valid "version"'],
    ['{"kind":"host-added","ids":[]}', 'host-added announcement has no valid "ids"'],
    ['{"kind":"host-removed","ids":[0]}', 'host-removed announcement has no valid "ids"'],
    ['{"kind":"host-added","ids":"1,2"}', 'host-added announcement has no valid "ids"'],
    ['{"kind":"host-added","ids":[1,"2"]}', 'host-added announcement has no valid "ids"'],
    ['{"kind":"server-joined"}', 'unknown announcement kind "server-joined"'],
    ['{}', 'unknown announcement kind undefined'],
  ];
  for (const [payload, message] of cases) {
    const result = parseAnnouncement(payload);
    t.type(result, AnnouncementError, payload);
    t.match(result, { code: 'bad_announcement', message }, payload);
  }
});
