//! Settings: string keys and values in their own sled tree, journaled in
//! `journal/settings.kv` like documents are.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use crate::error::{file_err, Result};
use crate::journal::{self, Kind};
use crate::layout::{self, JournalPos};
use crate::store::{tx_err, Store};

/// The settings journal is rewritten once it grows past this.
pub(crate) const SETTINGS_JOURNAL_MAX: u64 = 64 * 1024;

impl Store {
    /// The value of setting `key`.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .inner
            .settings
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Every setting, ordered by key.
    pub fn settings(&self) -> Result<Vec<(String, String)>> {
        self.inner
            .settings
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ))
            })
            .collect()
    }

    /// Sets `key` to `value`; durable when it returns.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write_setting(key, Some(value))
    }

    /// Removes setting `key` (nothing when absent); durable when it returns.
    pub fn remove_setting(&self, key: &str) -> Result<()> {
        self.write_setting(key, None)
    }

    fn write_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        let mut w = self.write_lock();
        let mut record = Vec::new();
        let json = serde_json::to_vec(&(key, value)).expect("strings serialize");
        journal::encode(Kind::Setting, &json, &mut record);
        let name = layout::SETTINGS_JOURNAL.to_string();
        let pos = self.append_journal(&mut w, &name, &record, |store| store.settings_records())?;
        self.commit_setting(key, value, pos)?;
        if pos.len > SETTINGS_JOURNAL_MAX {
            w.journals.remove(&name);
            let generation = journal::new_generation();
            let len = journal::write_atomic(
                &self.journal_path(&name),
                generation,
                &self.settings_records()?,
            )
            .map_err(file_err("rewrite", self.journal_path(&name)))?;
            self.set_settings_pos(JournalPos { generation, len })?;
        }
        Ok(())
    }

    /// Applies one setting and the settings journal position atomically, then flushes.
    pub(crate) fn commit_setting(
        &self,
        key: &str,
        value: Option<&str>,
        pos: JournalPos,
    ) -> Result<()> {
        let pos_json = serde_json::to_vec(&pos).expect("JournalPos serializes");
        let i = &self.inner;
        (&i.settings, &i.internal)
            .transaction(|(settings, internal)| {
                match value {
                    Some(v) => settings.insert(key.as_bytes(), v.as_bytes())?,
                    None => settings.remove(key.as_bytes())?,
                };
                internal.insert(layout::SETTINGS_POS_KEY, pos_json.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(tx_err)?;
        self.flush()
    }

    pub(crate) fn set_settings_pos(&self, pos: JournalPos) -> Result<()> {
        let pos_json = serde_json::to_vec(&pos).expect("JournalPos serializes");
        self.inner
            .internal
            .insert(layout::SETTINGS_POS_KEY, pos_json)?;
        self.flush()
    }

    /// All current settings as journal records.
    pub(crate) fn settings_records(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (k, v) in self.settings()? {
            let json = serde_json::to_vec(&(k, Some(v))).expect("strings serialize");
            journal::encode(Kind::Setting, &json, &mut out);
        }
        Ok(out)
    }
}
