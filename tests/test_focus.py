"""Finding the question in a long letter (bot.focus): what a citizen asks decides, the story helps."""

from bot.focus import KEEP_HEAD, KEEP_TAIL, focus, sentences, split_parts


def words(part: str) -> int:
    """A stand-in for the matcher's count of words of substance: words longer than three letters."""
    return sum(len(w) > 3 for w in part.split())


def asking(text: str) -> list[str]:
    return [p.text for p in focus(text, words, 0.3) if p.weight == 1.0]


def test_a_short_question_is_one_part_that_counts_fully():
    parts = focus("quên mật khẩu vneid thì làm sao", words, 0.3)
    assert [(p.text, p.weight) for p in parts] == [("quên mật khẩu vneid thì làm sao", 1.0)]


def test_the_question_at_the_end_of_a_letter_is_what_counts():
    letter = (
        "Tôi sinh năm 1969, quê ở xã Tam Sơn. Trước đây tôi làm giấy khai sinh ở xã cũ nhưng bị mất từ lâu. "
        "Bây giờ tôi cần xin lại trích lục giấy khai sinh thì làm thế nào?"
    )
    assert asking(letter) == ["Bây giờ tôi cần xin lại trích lục giấy khai sinh thì làm thế nào?"]
    story = [p for p in focus(letter, words, 0.3) if p.weight < 1.0]
    assert story and all(p.weight == 0.3 for p in story)


def test_a_bare_question_borrows_the_sentence_before_it():
    letter = "Nhà tôi ở phường Phúc Yên. Tôi bị mất thẻ căn cước khi đi chợ hôm qua. Vậy làm thế nào?"
    assert asking(letter) == ["Tôi bị mất thẻ căn cước khi đi chợ hôm qua.", "Vậy làm thế nào?"]


def test_an_opener_lends_its_weight_to_what_follows():
    text = "Cho em hỏi, em muốn đăng ký tạm trú cho người thuê trọ trên VNeID thì làm thế nào vậy ạ, em cảm ơn nhiều anh chị"
    assert "em muốn đăng ký tạm trú cho người thuê trọ trên VNeID thì làm thế nào vậy ạ" in asking(text)


def test_words_that_only_look_like_asking_words_do_not_make_a_question():
    # "xã hội" folds to "xa hoi" and "cách đây" to "cach day": neither asks anything.
    letter = "Tôi đóng bảo hiểm xã hội được 12 năm, cách đây 2 năm thì nghỉ việc. Giờ tôi muốn xem quá trình đóng trên VssID ở đâu?"
    assert asking(letter) == ["Giờ tôi muốn xem quá trình đóng trên VssID ở đâu?"]


def test_dots_inside_numbers_and_domains_do_not_end_a_sentence():
    assert sentences("Tôi nộp 1.000.000 đồng trên dichvucong.gov.vn rồi. Sao chưa thấy biên lai?") == [
        "Tôi nộp 1.000.000 đồng trên dichvucong.gov.vn rồi.", "Sao chưa thấy biên lai?"
    ]


def test_a_long_run_on_sentence_is_cut_at_commas():
    text = ("tôi năm nay bảy mươi tuổi, con cái đi làm xa hết, tôi không rành dùng điện thoại thông minh lắm, "
            "giờ muốn đóng tiền điện trên mạng thì làm thế nào")
    assert len(split_parts(text)) == 4
    assert asking(text)[-1] == "giờ muốn đóng tiền điện trên mạng thì làm thế nào"


def test_a_very_long_letter_keeps_its_opening_and_its_question():
    story = "Hôm đó tôi đi làm về muộn và không để ý điện thoại. " * 60
    letter = "Tôi là giáo viên ở Vĩnh Yên. " + story + "Xin hỏi tôi có cần khai báo tạm trú cho cháu ở nhờ không?"
    assert len(letter) > KEEP_HEAD + KEEP_TAIL
    parts = focus(letter, words, 0.3)
    assert parts[0].text.startswith("Tôi là giáo viên ở Vĩnh Yên.")
    assert asking(letter) == ["Xin hỏi tôi có cần khai báo tạm trú cho cháu ở nhờ không?"]
    assert sum(len(p.text) for p in parts) <= KEEP_HEAD + KEEP_TAIL + 10


def test_a_short_message_of_two_sentences_is_still_read_whole():
    parts = focus("Tôi bị mất thẻ căn cước. Làm lại thế nào?", words, 0.3)
    assert [(p.text, p.weight) for p in parts] == [("Tôi bị mất thẻ căn cước. Làm lại thế nào?", 1.0)]


def test_a_letter_that_asks_nothing_counts_every_sentence_the_same():
    complaint = ("Tiền điện tháng này nhà tôi tăng gấp đôi tháng trước dù không dùng thêm thiết bị nào. "
                 "Cả nhà đi vắng gần hết tháng, điều hòa cũng không bật lần nào trong tháng đó.")
    assert {p.weight for p in focus(complaint, words, 0.3)} == {1.0}
