<?php
/*
 * A backend driver for the pushbeat test harness. It extends the packaged
 * Horde_ActiveSync_Driver_Mock (folders Calendar, Contacts, Tasks, Notes,
 * no mail), fixes the methods that fail under PHP 8, takes its heartbeat
 * bounds from the environment, and reports changes that the Go test injects
 * through files (the side channel).
 *
 * Side channels, both read on every request so a running server can be
 * steered by the Go test:
 *   PUSHBEAT_EAS_CHANGES/<hex of user>/<hex of folder server id> holds one
 *     item uid per line; the test appends a line to inject "a new item
 *     arrived in this user's folder". The folder's modification sequence
 *     (its sync stamp) is the number of lines, so Horde's state machine sees
 *     exactly the lines added since the client's last Sync.
 *   PUSHBEAT_EAS_CHANGES/bounds, if present, holds "min max wait" in
 *     seconds and overrides PUSHBEAT_EAS_HBMIN/HBMAX/WAIT.
 */
class Pushbeat_Driver extends Horde_ActiveSync_Driver_Mock
{
    public function __construct($params = array())
    {
        if (empty($params['connector'])) {
            $params['connector'] = new Horde_ActiveSync_Driver_MockConnector();
        }
        if (!array_key_exists('imap', $params)) {
            $params['imap'] = null;
        }
        parent::__construct($params);
    }

    /**
     * Heartbeat bounds and the poll granularity come from the environment
     * so the tests can run with seconds instead of Horde's minutes.
     */
    public function getHeartbeatConfig()
    {
        $min = pushbeat_env_int('PUSHBEAT_EAS_HBMIN', 10);
        $max = pushbeat_env_int('PUSHBEAT_EAS_HBMAX', 120);
        $wait = pushbeat_env_int('PUSHBEAT_EAS_WAIT', 1);
        $dir = getenv('PUSHBEAT_EAS_CHANGES');
        if (!empty($dir) && is_file($dir . '/bounds')) {
            $f = preg_split('/\s+/', trim(file_get_contents($dir . '/bounds')));
            if (count($f) == 3 && ctype_digit($f[0]) && ctype_digit($f[1]) && ctype_digit($f[2])) {
                list($min, $max, $wait) = array((int)$f[0], (int)$f[1], (int)$f[2]);
            }
        }
        return array(
            'heartbeatmin' => $min,
            'heartbeatmax' => $max,
            'heartbeatdefault' => $min,
            'deviceping' => true,
            'waitinterval' => $wait,
        );
    }

    /**
     * The base driver accepts any password; with PUSHBEAT_EAS_PASSWORD set,
     * only that one (a wrong one gives HTTP 401).
     */
    public function authenticate($username, $password, $domain = null)
    {
        $want = getenv('PUSHBEAT_EAS_PASSWORD');
        if ($want !== false && $want !== '' && $password !== $want) {
            return false;
        }
        return parent::authenticate($username, $password, $domain);
    }

    /** The packaged mock returns null, which breaks authentication. */
    public function getUsernameFromEmail($email)
    {
        return $email;
    }

    /**
     * The packaged mock returns null. No provisioning, except for the user
     * named by PUSHBEAT_EAS_PROVISION_USER, who must Provision first
     * (HTTP 449 on FolderSync and Sync).
     */
    public function getProvisioning($device = null)
    {
        $user = getenv('PUSHBEAT_EAS_PROVISION_USER');
        if ($user !== false && $user !== '' && $this->getUser() === $user) {
            return Horde_ActiveSync::PROVISIONING_FORCE;
        }
        return Horde_ActiveSync::PROVISIONING_NONE;
    }

    /** The item uids injected into a folder, oldest first. */
    protected function _injected($serverid)
    {
        $dir = getenv('PUSHBEAT_EAS_CHANGES');
        if (empty($dir)) {
            return array();
        }
        $file = $dir . '/' . bin2hex((string)$this->getUser()) . '/' . bin2hex($serverid);
        if (!is_file($file)) {
            return array();
        }
        $lines = file($file, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
        return $lines === false ? array() : $lines;
    }

    /** The modification sequence of a folder: how many items were injected. */
    public function getSyncStamp($collection, $last = null)
    {
        return count($this->_injected($collection));
    }

    /**
     * Replaces the packaged version, which reads undefined variables and
     * calls a method on null under PHP 8. Reports the items injected after
     * sequence $from_ts up to $to_ts as new items.
     */
    public function getServerChanges($folder, $from_ts, $to_ts, $cutoffdate, $ping)
    {
        $serverid = is_object($folder) ? $folder->serverid() : $folder;
        $uids = $this->_injected($serverid);
        $results = array();
        for ($i = (int)$from_ts; $i < min((int)$to_ts, count($uids)); $i++) {
            $results[] = array(
                'id' => $uids[$i],
                'type' => Horde_ActiveSync::CHANGE_TYPE_CHANGE,
                'flags' => Horde_ActiveSync::FLAG_NEWMESSAGE,
            );
        }
        return $results;
    }

    public function statMessage($folderId, $id)
    {
        return array('id' => $id, 'mod' => 0, 'flags' => 1);
    }

    /** Every injected item is a note whose subject is its uid. */
    public function getMessage($folderid, $id, array $collection)
    {
        $note = new Horde_ActiveSync_Message_Note(array(
            'protocolversion' => $this->_version,
        ));
        $note->subject = $id;
        $note->messageclass = 'IPM.StickyNote';
        return $note;
    }
}
