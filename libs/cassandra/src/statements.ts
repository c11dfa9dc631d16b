/**
 * Builds the CQL of every statement the store runs against `keyspace`.
 *
 * All of them run prepared, so Cassandra parses each once per node and the driver routes
 * it to a replica of its partition.
 */
export function buildStatements(keyspace: string) {
  const table = (name: string) => `${keyspace}.${name}`;
  const messageColumns = 'seq, sender, client_id, body, ts, event, hidden_from';

  return {
    claimSetting: `INSERT INTO ${table('store_settings')} (name, value) VALUES (?, ?) IF NOT EXISTS`,

    claimUsername: `INSERT INTO ${table('users_by_name')} (username, id) VALUES (?, ?) IF NOT EXISTS`,
    insertUser: `INSERT INTO ${table('users')} (id, username, display_name, password_hash, created_at)
      VALUES (?, ?, ?, ?, ?)`,
    insertUserPrefix: `INSERT INTO ${table('users_by_prefix')} (prefix, shard, username, id) VALUES (?, ?, ?, ?)`,
    selectUser: `SELECT id, username, display_name, password_hash, created_at FROM ${table('users')} WHERE id = ?`,
    selectUserIdByName: `SELECT id FROM ${table('users_by_name')} WHERE username = ?`,
    selectUsersByPrefix: `SELECT username, id FROM ${table('users_by_prefix')}
      WHERE prefix = ? AND shard = ? AND username >= ? AND username < ? LIMIT ?`,

    insertRefreshToken: `INSERT INTO ${table('refresh_tokens')} (token_hash, user_id, expires_at)
      VALUES (?, ?, ?) USING TTL ?`,
    selectRefreshToken: `SELECT user_id, expires_at FROM ${table('refresh_tokens')} WHERE token_hash = ?`,
    deleteRefreshToken: `DELETE FROM ${table('refresh_tokens')} WHERE token_hash = ? IF EXISTS`,

    claimConversation: `INSERT INTO ${table('conversations')} (id, kind, created_at) VALUES (?, ?, ?) IF NOT EXISTS`,
    selectConversation: `SELECT kind, created_at FROM ${table('conversations')} WHERE id = ?`,
    insertMember: `INSERT INTO ${table('members')} (conv, user_id, joined_at) VALUES (?, ?, ?)`,
    insertUserConversation: `INSERT INTO ${table('conversations_by_user')} (user_id, conv, kind, created_at)
      VALUES (?, ?, ?, ?)`,
    selectMemberIds: `SELECT user_id, joined_seq, left_seq FROM ${table('members')} WHERE conv = ?`,
    selectMemberStates: `SELECT user_id, delivered_seq, read_seq, joined_seq, left_seq
      FROM ${table('members')} WHERE conv = ?`,
    selectUserConversations: `SELECT conv, kind, created_at FROM ${table('conversations_by_user')} WHERE user_id = ?`,

    // USING TIMESTAMP carries the new value itself, so the highest value wins (see schema.ts).
    raiseDeliveredSeq: `UPDATE ${table('members')} USING TIMESTAMP ? SET delivered_seq = ?
      WHERE conv = ? AND user_id = ?`,
    raiseReadSeq: `UPDATE ${table('members')} USING TIMESTAMP ? SET read_seq = ? WHERE conv = ? AND user_id = ?`,
    raiseConversationHead: `UPDATE ${table('conversation_heads')} USING TIMESTAMP ?
      SET max_seq = ?, last_sender = ?, last_client_id = ?, last_body = ?, last_ts = ?, last_event = ?,
      last_hidden_from = ? WHERE conv = ?`,
    raiseStreamHead: `UPDATE ${table('stream_heads')} USING TIMESTAMP ? SET max_pos = ? WHERE user_id = ?`,

    insertMessage: `INSERT INTO ${table('messages')}
      (conv, bucket, seq, sender, client_id, body, ts, event, hidden_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    insertStreamEntry: `INSERT INTO ${table('stream')} (user_id, bucket, pos, kind, conv, seq, actor, receipt, ts)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,

    selectConversationHead: `SELECT max_seq, last_sender, last_client_id, last_body, last_ts, last_event,
      last_hidden_from FROM ${table('conversation_heads')} WHERE conv = ?`,
    selectMaxSeq: `SELECT max_seq FROM ${table('conversation_heads')} WHERE conv = ?`,
    selectMaxPos: `SELECT max_pos FROM ${table('stream_heads')} WHERE user_id = ?`,

    // Newest first is the clustering order, so it needs no ORDER BY.
    selectMessagesBelow: `SELECT ${messageColumns} FROM ${table('messages')}
      WHERE conv = ? AND bucket = ? AND seq <= ? LIMIT ?`,
    selectMessagesAbove: `SELECT ${messageColumns} FROM ${table('messages')}
      WHERE conv = ? AND bucket = ? AND seq >= ? ORDER BY seq ASC LIMIT ?`,
    selectMessagesBetween: `SELECT ${messageColumns} FROM ${table('messages')}
      WHERE conv = ? AND bucket = ? AND seq >= ? AND seq <= ? ORDER BY seq ASC`,
    selectMessagesIn: `SELECT ${messageColumns} FROM ${table('messages')} WHERE conv = ? AND bucket = ? AND seq IN ?`,
    selectSendersAbove: `SELECT sender, event, hidden_from FROM ${table('messages')}
      WHERE conv = ? AND bucket = ? AND seq >= ? ORDER BY seq ASC LIMIT ?`,

    selectStreamAbove: `SELECT pos, kind, conv, seq, actor, receipt, ts FROM ${table('stream')}
      WHERE user_id = ? AND bucket = ? AND pos >= ? LIMIT ?`,

    insertGroup: `INSERT INTO ${table('groups')} (conv, kind, name, created_by, created_at, version)
      VALUES (?, ?, ?, ?, ?, ?)`,
    selectGroup: `SELECT conv, kind, name, created_by, created_at, version FROM ${table('groups')} WHERE conv = ?`,
    renameGroup: `UPDATE ${table('groups')} SET name = ? WHERE conv = ?`,
    setGroupVersion: `UPDATE ${table('groups')} SET version = ? WHERE conv = ?`,
    upsertGroupMember: `INSERT INTO ${table('members')} (conv, user_id, joined_at, role, joined_seq, left_seq)
      VALUES (?, ?, ?, ?, ?, ?)`,
    selectGroupMembers: `SELECT user_id, role, joined_seq, left_seq FROM ${table('members')} WHERE conv = ?`,
    selectGroupMember: `SELECT user_id, role, joined_seq, left_seq FROM ${table('members')}
      WHERE conv = ? AND user_id = ?`,
    deleteUserConversation: `DELETE FROM ${table('conversations_by_user')} WHERE user_id = ? AND conv = ?`,

    insertBlock: `INSERT INTO ${table('blocks')} (blocker, blocked, created_at) VALUES (?, ?, ?)`,
    insertBlockByBlocked: `INSERT INTO ${table('blocks_by_blocked')} (blocked, blocker) VALUES (?, ?)`,
    deleteBlock: `DELETE FROM ${table('blocks')} WHERE blocker = ? AND blocked = ?`,
    deleteBlockByBlocked: `DELETE FROM ${table('blocks_by_blocked')} WHERE blocked = ? AND blocker = ?`,
    selectBlocked: `SELECT blocked FROM ${table('blocks')} WHERE blocker = ?`,
    selectBlock: `SELECT blocked FROM ${table('blocks')} WHERE blocker = ? AND blocked = ?`,
    selectBlockers: `SELECT blocker FROM ${table('blocks_by_blocked')} WHERE blocked = ?`,
  };
}

export type Statements = ReturnType<typeof buildStatements>;
